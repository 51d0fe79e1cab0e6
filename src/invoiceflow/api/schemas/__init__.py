"""Request and response models of the REST API (Pydantic v2). Write models forbid unknown fields."""

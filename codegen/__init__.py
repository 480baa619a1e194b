"""b24crm's generator: spec/ (OpenAPI 3.1 + x-b24-*) -> load -> validate -> IR -> Jinja2 -> generated/b24crm."""

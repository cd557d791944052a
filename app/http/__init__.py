"""What only HTTP knows: routes, middleware, security, forms, schemas, errors -> responses."""

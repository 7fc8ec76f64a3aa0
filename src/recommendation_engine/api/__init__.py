"""HTTP: routes, schemas, authentication, middleware and error rendering."""

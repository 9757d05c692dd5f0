"""HTTP plumbing every route uses: who is calling (keys and scopes), the services a route
needs, error bodies, response formats and pagination. It imports nothing above `meta/`."""

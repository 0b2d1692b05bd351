"""Flask plumbing both HTTP doors share: the request's session and configuration,
access rules, security headers, logging and metrics."""

"""`gateway-conformance registry build`: a static site of certificate bundles (issue #23)."""

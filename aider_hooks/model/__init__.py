"""Models: the ChatBackend seam, the openai SDK backend, retries, the response cache, prices."""

"""Test helpers shared by tests/ and benchmarks/: fake servers, real git repositories."""

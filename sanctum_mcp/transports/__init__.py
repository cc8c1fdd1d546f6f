"""Transports: stdio for local clients, one HTTP app serving Streamable HTTP and legacy SSE."""

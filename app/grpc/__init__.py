"""What only gRPC knows: the V2 inference servicer, health, reflection, the API key, the server."""

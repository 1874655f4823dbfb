"""Generated protobuf and gRPC code: never edit, run scripts/gen-protos."""

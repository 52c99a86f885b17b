package wire

// The generated code is committed; regenerate after changing the schema
// (needs protoc and protoc-gen-go on PATH):
//go:generate protoc --go_out=. --go_opt=paths=source_relative wirepb/wire.proto

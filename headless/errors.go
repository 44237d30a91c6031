package headless

import "errors"

// Errors a Store or Decode returns, matched with errors.Is.
var (
	// ErrForeign is a file that is not a vem checkpoint store.
	ErrForeign = errors.New("not a vem checkpoint store")
	// ErrSchema is a checkpoint of a schema this version does not read.
	ErrSchema = errors.New("unsupported checkpoint schema")
	// ErrCorrupt is a checkpoint that does not decode or validate.
	ErrCorrupt = errors.New("corrupt checkpoint")
)

package main

import "errors"

// undoList collects how to undo a series of changes.
type undoList []func() error

func (u *undoList) add(f func() error) { *u = append(*u, f) }

// undo runs the undo functions in reverse order and joins their errors.
func (u *undoList) undo() error {
	var errs []error
	for i := len(*u) - 1; i >= 0; i-- {
		errs = append(errs, (*u)[i]())
	}
	return errors.Join(errs...)
}

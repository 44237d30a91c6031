package bpf

import (
	"fmt"
	"regexp"
)

// instanceRE is what may name an instance's pin directory: the rule of
// spec.ValidInstance, repeated here because bpf knows nothing of spec.
// ".", ".." and paths never pass, so no instance reaches outside PinRoot.
var instanceRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,32}$`)

func checkInstance(instance string) error {
	if !instanceRE.MatchString(instance) {
		return fmt.Errorf("invalid instance name %q: want 1..32 of [a-zA-Z0-9_-]", instance)
	}
	return nil
}

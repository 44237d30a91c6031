//go:build !cgo

package libvirtconn

import (
	"errors"

	"github.com/vem-switch/vem/agent/libvirtwatch"
)

// Dial fails: this build has no cgo, so no libvirt.
func Dial(uri string) (libvirtwatch.Conn, error) {
	return nil, errors.New("vem-libvirt was built without cgo: no libvirt connection to " + uri)
}

package guest

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// cpioWriter writes a cpio archive in the "newc" format the kernel
// unpacks as an initramfs. The first error sticks and close returns it.
type cpioWriter struct {
	w    *bufio.Writer
	ino  int
	dirs map[string]bool
	err  error
}

func newCpio(w io.Writer) *cpioWriter {
	return &cpioWriter{w: bufio.NewWriter(w), ino: 1, dirs: map[string]bool{}}
}

func (c *cpioWriter) dir(name string) {
	if c.dirs[name] {
		return
	}
	c.dirs[name] = true
	c.entry(name, 0o040755, nil)
}

func (c *cpioWriter) file(name string, perm os.FileMode, data []byte) {
	c.entry(name, 0o100000|uint32(perm.Perm()), data)
}

// copyFrom adds the host file src as name, creating its parent
// directories.
func (c *cpioWriter) copyFrom(name string, perm os.FileMode, src string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("guest: initramfs: %w", err)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			c.dir(name[:i])
		}
	}
	c.file(name, perm, data)
	return nil
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte) {
	if c.err != nil {
		return
	}
	nlink := 1
	if mode&0o040000 != 0 {
		nlink = 2
	}
	// magic ino mode uid gid nlink mtime filesize devmajor devminor
	// rdevmajor rdevminor namesize check
	_, c.err = fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	c.ino++
	c.write([]byte(name + "\x00"))
	c.pad(110 + len(name) + 1)
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad aligns to 4 bytes after n bytes written.
func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

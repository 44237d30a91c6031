// Command vemctl shows and changes the state of the vem-agent on this
// host through the agent's local API on its unix socket.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

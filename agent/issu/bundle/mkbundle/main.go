// Command mkbundle makes an upgrade bundle of vem-agent (make bundle) and
// installs one under the versions' root (make install):
//
//	mkbundle -agent bin/vem-agent -out bin/bundle-1.3.0 [-upgrades-from 1.2.0] [-downgrades-to 1.2.0]
//	mkbundle -install bin/bundle-1.3.0 -root /usr/lib/vem [-promote]
//
// The bundle's version and protocol are what `vem-agent --version` says
// (stamped with -ldflags "-X main.version=1.3.0").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/vem-switch/vem/agent/issu/bundle"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "mkbundle:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkbundle", flag.ContinueOnError)
	agent := fs.String("agent", "", "the vem-agent `binary` to bundle")
	out := fs.String("out", "", "the bundle `directory` to make (new or empty)")
	from := fs.String("upgrades-from", "", "the oldest `version` this one upgrades from (manifest upgradesFrom)")
	to := fs.String("downgrades-to", "", "the oldest `version` this one can be rolled back to (manifest downgradesTo)")
	install := fs.String("install", "", "install the bundle `directory` under -root instead")
	root := fs.String("root", bundle.DefaultRoot, "the versions' install `root`")
	promote := fs.Bool("promote", false, "with -install: make the version the one started next")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *install != "" {
		b, err := bundle.Load(*install)
		if err != nil {
			return err
		}
		inst, err := b.Install(*root)
		if err != nil {
			return err
		}
		fmt.Printf("installed %s in %s\n", inst.Version(), inst.Dir())
		if *promote {
			if err := bundle.Promote(*root, inst.Version()); err != nil {
				return err
			}
			fmt.Printf("promoted %s: %s/%s is the one started next\n", inst.Version(), *root, bundle.CurrentLink)
		}
		return nil
	}
	if *agent == "" || *out == "" {
		return errors.New("-agent and -out are needed (or -install)")
	}
	b, err := bundle.Make(context.Background(), *out, *agent, bundle.MakeOptions{UpgradesFrom: *from, DowngradesTo: *to})
	if err != nil {
		return err
	}
	fmt.Printf("bundle %s in %s\n", b.Version(), b.Dir())
	return nil
}

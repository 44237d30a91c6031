// Package bundle is what an in-service upgrade of vem-agent installs: a
// directory holding the new vem-agent binary (its eBPF objects are embedded
// by bpf2go) and manifest.json, which names the version, the control
// protocol it speaks, the versions it can upgrade from and be rolled back
// to, and the SHA-256 of every file.
//
// The orchestrator (package issu) calls, in order:
//
//	b, err := bundle.Load(dir)          // the manifest, strictly checked
//	err = b.Verify(ctx, opts)           // checksums, --version, upgrade-check: writes nothing
//	inst, err := b.Install(root)        // copied into root/<version>/, checksummed again
//	... the handover to inst.Agent() ...
//	err = bundle.Promote(root, version) // root/current -> <version>: started next
//
// # Install layout
//
// Versions live side by side under a root (DefaultRoot, /usr/lib/vem):
//
//	/usr/lib/vem/1.2.0/vem-agent
//	/usr/lib/vem/1.2.0/manifest.json
//	/usr/lib/vem/1.3.0/...
//	/usr/lib/vem/current -> 1.3.0     the one systemd starts
//	/usr/lib/vem/previous -> 1.2.0    the one current replaced (rollback)
//
// The unit runs /usr/lib/vem/current/vem-agent. Promote replaces the
// current symlink atomically (a new symlink renamed over it), so a start
// at any moment runs the old version or the new one, never neither; a
// rollback is a Promote of the previous version.
package bundle

package guest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// module is one kernel module file.
type module struct {
	name string // as the kernel names it: underscores, no .ko
	path string
}

// moduleClosure returns the modules wanted and those they depend on
// (their .modinfo "depends="), each after its dependencies, found in the
// module tree dir. Debian's package carries no modules.dep (depmod makes
// it at install), so the modules' own metadata is read.
func moduleClosure(dir string, wanted []string) ([]module, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			files[modName(strings.TrimSuffix(d.Name(), ".ko"))] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("guest: modules: %w", err)
	}
	var out []module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, from string) error
	visit = func(name, from string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("guest: module dependency cycle at %s", name)
		case 2:
			return nil
		}
		p, ok := files[name]
		if !ok {
			return fmt.Errorf("guest: module %s (needed by %s) not in %s: compressed modules or built in? check the kernel package", name, from, dir)
		}
		state[name] = 1
		deps, err := moduleDepends(p)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, module{name: name, path: p})
		return nil
	}
	for _, w := range wanted {
		if err := visit(modName(w), "the guest"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("guest: module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("guest: module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("guest: module %s: .modinfo: %w", path, err)
	}
	var deps []string
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok && len(v) > 0 {
			for _, d := range strings.Split(string(v), ",") {
				deps = append(deps, modName(d))
			}
		}
	}
	return deps, nil
}

// modName is the kernel's name of a module: dashes are underscores.
func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

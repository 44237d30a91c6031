// Package cli holds what vem's command-line tools (vemctl, vsm) share:
// tables shaped like the NX-OS show commands and command-line usage errors.
package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// Table is rows of cells printed as aligned columns under a header and a
// line of dashes, the shape of the NX-OS show commands.
type Table struct {
	rows [][]string // rows[0] is the header
}

// NewTable starts a table with its header.
func NewTable(header ...string) *Table {
	return &Table{rows: [][]string{header}}
}

// Row adds a row. Empty cells print as "--", as NX-OS does, so that every
// column holds a word and the output splits on whitespace.
func (t *Table) Row(cells ...string) {
	r := make([]string, len(cells))
	for i, c := range cells {
		if c == "" {
			c = "--"
		}
		r[i] = oneLine(c)
	}
	t.rows = append(t.rows, r)
}

// Write prints the table; the dashes under each heading span its column.
func (t *Table) Write(w io.Writer) error {
	widths := make([]int, len(t.rows[0]))
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	dashes := make([]string, len(widths))
	for i, n := range widths {
		dashes[i] = strings.Repeat("-", n)
	}
	var b strings.Builder
	for i, r := range t.rows {
		b.WriteString(strings.Join(r, "\t") + "\n")
		if i == 0 {
			b.WriteString(strings.Join(dashes, "\t") + "\n")
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if _, err := io.WriteString(tw, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// oneLine keeps a cell from breaking the layout: tabs and newlines in
// it would end a column or a row.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// Len returns the number of rows below the header.
func (t *Table) Len() int { return len(t.rows) - 1 }

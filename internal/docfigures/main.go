// Command docfigures regenerates the measured tables of docs/: it runs the
// benchmarks and tests that measure each figure, reads the numbers from
// their output and rewrites every table between the markers
//
//	<!-- figures: NAME -->
//	...
//	<!-- /figures -->
//
// of the docs with the date and the machine, so that no figure in the docs
// is typed by hand. The tables and their rows are in tables.go: to add a
// figure, add a row there (the command that measures it and how to read
// its output) and put the table's markers in the doc once.
//
//	go run ./internal/docfigures              # every table
//	go run ./internal/docfigures -only NAME   # one table (repeatable: -only a,b)
//	go run ./internal/docfigures -list        # the tables and their commands
//
// A command is run once however many cells read it. A cell whose number
// cannot be read from its command's output is written "not measured" and
// reported; the program then exits with status 1.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	only := flag.String("only", "", "regenerate only these tables (comma-separated names)")
	list := flag.Bool("list", false, "list the tables and the commands they run, and stop")
	root := flag.String("root", ".", "the module's root directory")
	flag.Parse()
	if err := run(*root, *only, *list); err != nil {
		fmt.Fprintln(os.Stderr, "docfigures:", err)
		os.Exit(1)
	}
}

func run(root, only string, list bool) error {
	var picked []Table
	for _, t := range tables {
		if only == "" || slices.Contains(strings.Split(only, ","), t.Name) {
			picked = append(picked, t)
		}
	}
	if len(picked) == 0 {
		return fmt.Errorf("no table named %q; -list shows them", only)
	}
	if list {
		for _, t := range picked {
			fmt.Printf("%s (%s)\n", t.Name, t.Doc)
			for _, c := range commandsOf(t) {
				fmt.Printf("  %s\n", c)
			}
		}
		return nil
	}
	outputs := map[string]string{}
	for _, t := range picked {
		for _, c := range commandsOf(t) {
			if _, done := outputs[c]; done {
				continue
			}
			fmt.Fprintf(os.Stderr, "== %s\n", c)
			start := time.Now()
			out, err := runCommand(root, c)
			fmt.Fprintf(os.Stderr, "   %.0f s%s\n", time.Since(start).Seconds(), failed(err))
			outputs[c] = out
		}
	}
	stamp := fmt.Sprintf("Measured %s on %s.", time.Now().Format("2006-01-02"), machine())
	var missing []string
	byDoc := map[string][]Table{}
	for _, t := range picked {
		byDoc[t.Doc] = append(byDoc[t.Doc], t)
	}
	for doc, ts := range byDoc {
		path := filepath.Join(root, doc)
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, t := range ts {
			body, miss := render(t, outputs, stamp)
			missing = append(missing, miss...)
			if text, err = replaceBlock(text, t.Name, body); err != nil {
				return fmt.Errorf("%s: %w", doc, err)
			}
		}
		if err := os.WriteFile(path, text, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d figures could not be read from their command's output:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	return nil
}

func failed(err error) string {
	if err != nil {
		return fmt.Sprintf(" (%v)", err)
	}
	return ""
}

// commandsOf lists the distinct commands a table's cells run, in order.
func commandsOf(t Table) []string {
	var cmds []string
	for _, r := range t.Rows {
		for _, c := range r {
			if c.Cmd != "" && !slices.Contains(cmds, c.Cmd) {
				cmds = append(cmds, c.Cmd)
			}
		}
	}
	return cmds
}

// runCommand runs a command as the docs write it: leading NAME=value words
// set the environment, single quotes group words (no shell is involved).
// Its output (stdout and stderr) is returned even when it fails, since a
// failed claim still prints what it measured.
func runCommand(root, line string) (string, error) {
	words, err := splitWords(line)
	if err != nil {
		return "", err
	}
	env := os.Environ()
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) == 0 {
		return "", fmt.Errorf("no command in %q", line)
	}
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Dir = root
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// splitWords splits a command line on spaces, keeping 'quoted words' whole.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted = !quoted
			inWord = true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unbalanced quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// render writes a table's block: the stamp, the table, its note.
func render(t Table, outputs map[string]string, stamp string) (string, []string) {
	var b strings.Builder
	var missing []string
	b.WriteString(stamp)
	if t.Intro != "" {
		b.WriteString(" " + t.Intro)
	}
	b.WriteString("\n\n| " + strings.Join(t.Header, " | ") + " |\n|")
	for range t.Header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range t.Rows {
		cells := make([]string, len(row))
		for i, c := range row {
			if c.Read == nil {
				cells[i] = c.Text
				continue
			}
			v, err := c.Read(outputs[c.Cmd])
			if err != nil {
				v = "not measured"
				missing = append(missing, fmt.Sprintf("%s / %s: %v (from %s)", t.Name, row[0].Text, err, c.Cmd))
			}
			cells[i] = v
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	if t.Note != "" {
		b.WriteString("\n" + t.Note + "\n")
	}
	return b.String(), missing
}

// replaceBlock puts body between the markers of table name in text.
func replaceBlock(text []byte, name, body string) ([]byte, error) {
	open := []byte("<!-- figures: " + name + " -->\n")
	i := bytes.Index(text, open)
	if i < 0 {
		return nil, fmt.Errorf("no marker %q: add it (and <!-- /figures --> after it) where the table goes", strings.TrimSpace(string(open)))
	}
	start := i + len(open)
	end := bytes.Index(text[start:], []byte("<!-- /figures -->"))
	if end < 0 {
		return nil, fmt.Errorf("table %s has no closing <!-- /figures -->", name)
	}
	var out bytes.Buffer
	out.Write(text[:start])
	out.WriteString(body)
	out.Write(text[start+end:])
	return out.Bytes(), nil
}

// machine describes where the figures were measured: CPU, cores, memory,
// Go, CPython and Chromium versions.
func machine() string {
	parts := []string{fmt.Sprintf("%d cores", runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				parts[0] += " (" + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":")) + ")"
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			parts = append(parts, fmt.Sprintf("%d GiB", (kib+(1<<19))>>20))
		}
	}
	parts = append(parts, runtime.Version())
	for _, c := range [][]string{{"python3", "--version"}, {"chromium", "--version"}} {
		if out, err := exec.Command(c[0], c[1:]...).Output(); err == nil {
			parts = append(parts, strings.TrimSpace(string(out)))
		}
	}
	if out, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(out)); len(f) > 0 {
			parts = append(parts, "load average "+f[0]+" at the end")
		}
	}
	return strings.Join(parts, ", ")
}

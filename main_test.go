package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"interleave/scenarios/goengine"
)

// TestMain lets the test binary be the real program (main) and its runner
// children, so the tests below drive the binary as a user would.
func TestMain(m *testing.M) {
	if role := os.Getenv(goengine.RoleEnv); role != "" {
		os.Exit(childMain(role))
	}
	if os.Getenv("INTERLEAVE_TEST_MAIN") == "1" {
		os.Args = append([]string{os.Args[0]}, strings.Fields(os.Getenv("INTERLEAVE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var servingRe = regexp.MustCompile(`url=(http://[^ ]+)`)

// TestSIGTERMCancelsRunsKeepsRecordAndExits starts the real program, begins a
// long run, watches it, sends SIGTERM, and checks the viewer is told, the
// child is gone, the program exits 0 and the run is still there afterwards.
func TestSIGTERMCancelsRunsKeepsRecordAndExits(t *testing.T) {
	data := t.TempDir()
	start := func() (*exec.Cmd, string, *strings.Builder) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "INTERLEAVE_TEST_MAIN=1", "INTERLEAVE_TEST_ARGS=-addr 127.0.0.1:0 -data "+data)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		log := &strings.Builder{}
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			log.WriteString(lines.Text() + "\n")
			if m := servingRe.FindStringSubmatch(lines.Text()); m != nil {
				go func() {
					for lines.Scan() {
						log.WriteString(lines.Text() + "\n")
					}
				}()
				return cmd, m[1], log
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the program did not say where it serves:\n%s", log)
		return nil, "", nil
	}
	cmd, url, log := start()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	resp, err := http.Post(url+"/api/runs", "application/json", strings.NewReader(`{"scenario":"mental-model","engine":"go","params":{"tasks":2,"work":"io","size":2000}}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/runs/"+created.ID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	var pid int
	for pid == 0 {
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		pid = runPID(t, url, created.ID)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	final := ""
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			break
		}
		var m struct{ Type, Status string }
		json.Unmarshal(msg, &m)
		if m.Type == "status" {
			final = m.Status
		}
	}
	if final != "cancelled" {
		t.Errorf("viewer's last status %q, want cancelled", final)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("program exited with %v after SIGTERM, want 0\n%s", err, log)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the run's child %d outlived the program", pid)
	}

	// What was recorded is still there after a restart.
	cmd, url, _ = start()
	defer cmd.Process.Signal(syscall.SIGTERM)
	var info struct {
		Status string
		Events int
	}
	resp, err = http.Get(url + "/api/runs/" + created.ID)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.Status != "cancelled" || info.Events == 0 {
		t.Errorf("after restart the run is %+v, want cancelled with its events", info)
	}
}

func runPID(t *testing.T, url, id string) int {
	resp, err := http.Get(url + "/api/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ PID int }
	json.NewDecoder(resp.Body).Decode(&info)
	return info.PID
}

func TestBadFlagIsAnError(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"-nope"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(out.String(), "nope") {
		t.Errorf("run(-nope) = %v, output %q; want an error naming the flag", err, out.String())
	}
}

package verdict

import "fmt"

// subprocess metrics: exit_1 … exit_N (each child's exit code, -1 or -9
// when killed), children, wall, children_sum, children_max (ms),
// nonzero_exits, timed_out, killed_gone (children killed by the timeout
// whose pid was gone afterwards) and, for a pipeline, pipeline_lines.
func init() { judges["subprocess"] = (*judge).subprocess }

// AboutTheLongest is how many times the longest child's time a concurrent
// run may take and still be "about the longest".
const AboutTheLongest = 1.3

func (j *judge) subprocess() {
	name, mode, check := j.Params.String("command"), j.Params.String("mode"), j.Params.Bool("check")
	n := int(j.m("children"))
	failed := int(j.m("nonzero_exits"))
	if timedOut := int(j.m("timed_out")); timedOut > 0 {
		gone := fmt.Sprintf("%d of them no longer exist", int(j.m("killed_gone")))
		if timedOut == 1 && j.m("killed_gone") == 1 {
			gone = "its pid is gone"
		} else if timedOut == 1 {
			gone = "its pid still exists"
		}
		j.say("%s ran past its %d ms timeout and was killed (%s); a timeout raises TimeoutExpired whatever check says.", name, j.Params.Int("timeout_ms"), gone)
		return
	}
	if check && failed > 0 {
		for i := 1; i <= n; i++ {
			if code := int(j.m(fmt.Sprintf("exit_%d", i))); code != 0 {
				j.say("%s (child %d) exited with code %d and check=true turned that into an error (CalledProcessError) carrying its stderr, shown in the output.", name, i, code)
				return
			}
		}
	}
	tail := ""
	if failed > 0 {
		tail = fmt.Sprintf(" %s exited with a non-zero code; with check=false that is only reported, not raised.", capital(plural(failed, "child", "children")))
	}
	wall, sum, longest := j.wallMS(), j.m("children_sum"), j.m("children_max")
	switch {
	case mode == "pipeline":
		j.say("The pipeline passed data: cat -n printed %d lines, every one read through the pipes from %s and sort -r.%s", int(j.m("pipeline_lines")), name, tail)
	case n == 1:
		j.say("%s ran for %s and the parent waited for it: running a program blocks its caller until it exits.%s", name, Millis(longest), tail)
	case mode == "sequential":
		j.say("One after another, %d programs took %s: the sum of their own times (%s), because each call waited for its program to exit.%s", n, Millis(wall), Millis(sum), tail)
	case name == "compute" && n > j.Cores:
		j.res.Claims.Causes = append(j.res.Claims.Causes, CauseOversubscribed)
		j.say("Started together, %d programs took %s, the longest %s and all of them %s of their own time: %d programs that compute share %d cores, so at most %d ran at a time and each took longer than alone.%s",
			n, Millis(wall), Millis(longest), Millis(sum), n, j.Cores, j.Cores, tail)
	case wall <= AboutTheLongest*longest:
		j.say("Started together, %d programs finished in %s: about the longest one (%s), not the sum of their times (%s).%s", n, Millis(wall), Millis(longest), Millis(sum), tail)
	default:
		j.short(float64(n))
		var why string
		switch {
		case j.m("other_load") >= LoadMin:
			j.res.Claims.Causes = append(j.res.Claims.Causes, CauseOtherLoad)
			why = fmt.Sprintf("the machine was busy: other processes used %.2f cores while they ran", j.m("other_load"))
		default:
			j.res.Claims.Unexplained = true
			why = "what this run measured does not show why"
		}
		than := "less than the sum of their times"
		if wall >= sum {
			than = "no less than the sum of their times"
		}
		j.say("Started together, %d programs took %s: %s (%s) and more than the longest (%s); %s.%s", n, Millis(wall), than, Millis(sum), Millis(longest), why, tail)
	}
}

package scenarios

import "slices"

// freeThreadedNotice is what to look at on the free-threaded build, by
// scenario: what changes when the same script runs without a GIL.
var freeThreadedNotice = map[string][]string{
	"mental-model": {
		"On the free-threaded build mode=concurrent threads are not held back by a GIL: two of them run on two cores at once, so here it is the number of cores, not the interpreter, that limits CPU work.",
	},
	"threads": {
		"There is no GIL on this build: with work=cpu the threads compute on every core at once and the speedup grows with the cores. A gap in a thread's CPU time is the OS giving its core to someone else (runnable), never a wait for a GIL. Run the same scenario on the python engine to see the GIL hold them to about 1x.",
	},
	"locks": {
		"Without a GIL, variant=naive (counter += 1) loses updates too: threads on two cores read the same value at the same instant. On the GIL build it almost never does, because a thread only gives the GIL up between bytecodes at a switch-interval check, rarely inside the few bytecodes of one +=.",
	},
	"asyncio": {
		"asyncio runs in one thread, so the free-threaded build changes nothing here: the loop still runs one task at a time.",
	},
	"multiprocessing": {
		"Processes were already parallel with the GIL; on the free-threaded build threads are too, without the start-up and pickling that processes pay.",
	},
	"pools": {
		"On the free-threaded build a ThreadPoolExecutor computes on every core, like a process pool, without pickling its tasks and results.",
	},
	"gil": {
		"This build has no GIL (PEP 703): there is nothing to hand over, so the CPU threads compute at the same instant on different cores and no span is gil-wait. The switch interval still exists but no thread waits for it. Run the same scenario on the python engine to see the hand-offs.",
	},
}

// freeThreadedBreaksWhy is what to expect from a scenario's "where it
// breaks" link on the free-threaded build, where that differs from the
// GIL build's words.
var freeThreadedBreaksWhy = map[string]string{
	"threads": "CPU work needs cores: without a GIL the threads compute in parallel, but no faster than the number of cores.",
}

// addFreeThreaded offers every scenario that runs on CPython on the
// free-threaded build too: the same scripts and harness run there, with the
// same params, except stepping (step, schedule), which stays on the GIL
// build. It is called once, from init, after the catalog is built.
func addFreeThreaded(list []Scenario) {
	for i := range list {
		s := &list[i]
		if !s.HasEngine(EnginePython) || s.HasEngine(EnginePythonFT) {
			continue
		}
		s.Engines = append(slices.Clone(s.Engines), EnginePythonFT)
		for j := range s.Params {
			p := &s.Params[j]
			// Step runs stay on the GIL build: the stepping routes run them
			// there, and a stepped thread runs one line at a time anyway.
			if p.Name == StepParam || p.Name == ScheduleParam {
				continue
			}
			if slices.Contains(p.Engines, EnginePython) && !slices.Contains(p.Engines, EnginePythonFT) {
				p.Engines = append(slices.Clone(p.Engines), EnginePythonFT)
			}
		}
		if why, ok := freeThreadedBreaksWhy[s.ID]; ok && s.Breaks != nil {
			b := *s.Breaks
			b.EngineWhy = map[string]string{EnginePythonFT: why}
			for k, v := range s.Breaks.EngineWhy {
				b.EngineWhy[k] = v
			}
			s.Breaks = &b
		}
		if n, ok := freeThreadedNotice[s.ID]; ok {
			notice := make(map[string][]string, len(s.EngineNotice)+1)
			for k, v := range s.EngineNotice {
				notice[k] = v
			}
			notice[EnginePythonFT] = n
			s.EngineNotice = notice
		}
	}
}

// init runs after those of catalog.go and compare.go, which build the
// catalog: the go command hands a package's files to the compiler sorted
// by name, and their init functions run in that order.
func init() { addFreeThreaded(catalog) }

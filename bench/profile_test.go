package main

import (
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goprov/goprov/internal/labtest"
	"github.com/goprov/goprov/planner"
	_ "github.com/goprov/goprov/resources/all"
	"github.com/goprov/goprov/testinfra"
)

var (
	profileHosts = flag.Int("profile-hosts", 20, "lab hosts for BenchmarkGoprovProfile")
	profileDir   = flag.String("profile-dir", "", "write BenchmarkGoprovProfile's pprof files here (default: none)")
)

// BenchmarkGoprovProfile runs goprov's engine in this process (the same
// code the CLI runs) against fresh lab hosts, to see where a first converge
// and a no-op plan spend their time and memory:
//
//	go test ./bench -run '^$' -bench GoprovProfile -benchtime 1x -args -profile-hosts 200 -profile-dir /tmp/prof
//
// It writes converge.cpu.pprof, converge.heap.pprof, noop.cpu.pprof and
// noop.heap.pprof (heap: allocations since the phase began) and reports,
// per phase, wall time, the peak of Go's in-use memory per host, and the
// medians of the per-host connect/read/apply times the engine records.
func BenchmarkGoprovProfile(b *testing.B) {
	n := *profileHosts
	for i := 0; i < b.N; i++ {
		lab := testinfra.Start(b, testinfra.Options{Hosts: n, ReadyTimeout: 5 * time.Minute})
		dir := labtest.Write(b, labtest.Inventory(lab, testinfra.UserDeploy), string(goprovConfig))
		opts := labtest.Options{Parallel: n, Timeout: 10 * time.Minute}
		profilePhase(b, "converge", n, func() *planner.Plan {
			s := labtest.Load(b, dir, opts)
			p := s.Apply(s.Plan())
			s.Engine.Close()
			return p
		})
		profilePhase(b, "noop", n, func() *planner.Plan {
			s := labtest.Load(b, dir, opts)
			p := s.Plan()
			s.Engine.Close()
			labtest.RequireEmpty(b, p)
			return p
		})
		_ = lab.Close()
	}
}

func profilePhase(b *testing.B, name string, n int, run func() *planner.Plan) {
	var cpu *os.File
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o755); err != nil {
			b.Fatal(err)
		}
		var err error
		if cpu, err = os.Create(filepath.Join(*profileDir, name+".cpu.pprof")); err != nil {
			b.Fatal(err)
		}
		defer cpu.Close()
		if err := pprof.StartCPUProfile(cpu); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	// Peak in-use memory (heap + stacks) while the phase runs.
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if v := m.HeapInuse + m.StackInuse; v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	p := run()
	wall := time.Since(start)
	close(stop)
	wg.Wait()
	if cpu != nil {
		pprof.StopCPUProfile()
		f, err := os.Create(filepath.Join(*profileDir, name+".heap.pprof"))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	labtest.RequireOK(b, p)
	var conn, read, apply []float64
	for _, h := range p.Hosts {
		conn = append(conn, float64(h.Timings.ConnectMS))
		read = append(read, float64(h.Timings.ReadMS))
		apply = append(apply, float64(h.Timings.ApplyMS))
	}
	sort.Float64s(read)
	b.ReportMetric(wall.Seconds(), name+"-wall-s")
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapInuse+base.StackInuse))/float64(n)/1024, name+"-inuse-KB/host")
	b.ReportMetric(median(conn), name+"-connect-ms")
	b.ReportMetric(median(read), name+"-read-ms")
	b.ReportMetric(read[len(read)-1], name+"-read-max-ms")
	b.ReportMetric(median(apply), name+"-apply-ms")
}

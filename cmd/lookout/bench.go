package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"lookout/classifier"
)

// cmdBench measures the scorer on one core against the peer pipeline
// (jieba-rs + Hugging Face WordPiece) on the same posts, in the same run,
// and reports model load time and resident memory.
func cmdBench(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	var model, data, peer, out string
	var passes, rounds int
	var e2e, scale bool
	var workers int
	var cpuProfile string
	fs := newFlagSet("bench", stderr)
	fs.StringVar(&model, "model", "models/risk.model", "trained model file")
	fs.StringVar(&data, "data", "../shared/data/weibo_random/posts.jsonl,../shared/data/sos4k/train.jsonl", "posts (JSON Lines with text), comma-separated; each file is timed")
	fs.StringVar(&peer, "peer", "", "directory of the peer benchmark with node_modules installed (npm ci); empty: skip the peer")
	fs.IntVar(&passes, "passes", 2, "passes over each file in a round")
	fs.IntVar(&rounds, "rounds", 5, "rounds; each times lookout then the peer, and the median is reported")
	fs.StringVar(&out, "out", "", "also write the figures to this file")
	fs.BoolVar(&scale, "scale", false, "also run 1, 2 and 4 serve processes in one group on 8 partitions, with a ledger check")
	fs.IntVar(&workers, "workers", 16, "with --e2e: posts handled in parallel")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.BoolVar(&e2e, "e2e", false, "also measure end to end: kfake -> scoring -> a real redis-server (needs redis-server on PATH)")
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GOMAXPROCS(1) // per-core figures
	var report strings.Builder
	w := io.MultiWriter(stdout, &report)
	start := time.Now()
	cls, err := loadClassifier(model)
	if err != nil {
		return err
	}
	load := time.Since(start)
	fmt.Fprintf(w, "lookout bench  %s  %s/%s  GOMAXPROCS=1\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "model %s loaded in %d ms\n", cls.Version(), load.Milliseconds())
	for _, path := range strings.Split(data, ",") {
		ps, err := readJSONL(path)
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		texts := make([]string, 0, len(ps))
		for _, p := range ps {
			if p.Text != "" {
				texts = append(texts, p.Text)
			}
		}
		for _, t := range texts[:min(200, len(texts))] { // warm up
			_, _ = cls.Score(t)
		}
		// Rounds alternate lookout and the peer, so that a noisy
		// neighbour on the machine hits both alike; medians are reported.
		var ours, theirs, ratios []float64
		for r := 0; r < rounds; r++ {
			t0 := time.Now()
			for p := 0; p < passes; p++ {
				for _, t := range texts {
					if _, err := cls.Score(t); err != nil && !errors.Is(err, classifier.ErrEmpty) {
						return err
					}
				}
			}
			ours = append(ours, float64(passes*len(texts))/time.Since(t0).Seconds())
			if peer != "" {
				pr, err := runPeer(ctx, peer, path, passes)
				if err != nil {
					return fmt.Errorf("peer: %w", err)
				}
				theirs = append(theirs, pr)
				ratios = append(ratios, ours[r]/pr)
			}
		}
		fmt.Fprintf(w, "\n%s (%d posts; median of %d rounds of %d passes)\n", filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), len(texts), rounds, passes)
		fmt.Fprintf(w, "  lookout scorer (normalise, knowledge layer, WordPiece, gse, model)  %8.0f posts/s\n", median(ours))
		if peer != "" {
			fmt.Fprintf(w, "  peer pipeline (jieba-rs + HF WordPiece, 1 thread)                 %8.0f posts/s\n", median(theirs))
			fmt.Fprintf(w, "  ratio (median of the rounds' ratios; range %.2f-%.2f)              %8.2fx\n", slices.Min(ratios), slices.Max(ratios), median(ratios))
		}
	}
	fmt.Fprintf(w, "\nresident memory of the bench process: %s\n", rss())
	if e2e {
		first := strings.Split(data, ",")[0]
		dataDir := filepath.Dir(filepath.Dir(first))
		if err := benchE2E(ctx, w, cls, dataDir, workers, rounds); err != nil {
			return err
		}
	}
	if scale {
		dataDir := filepath.Dir(filepath.Dir(strings.Split(data, ",")[0]))
		if err := benchScale(ctx, w, dataDir); err != nil {
			return err
		}
	}
	if out != "" {
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

var rePeer = regexp.MustCompile(`peer_pipeline posts_per_s=([0-9.]+)`)

func runPeer(ctx context.Context, dir, data string, passes int) (float64, error) {
	abs, err := filepath.Abs(data)
	if err != nil {
		return 0, err
	}
	tok, _ := filepath.Abs(filepath.Join(filepath.Dir(abs), "..", "bert-base-chinese", "tokenizer.json"))
	args := []string{"bench.js", abs, strconv.Itoa(passes), tok}
	cmd := exec.CommandContext(ctx, "node", args...)
	if _, err := exec.LookPath("taskset"); err == nil {
		cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", "0", "node"}, args...)...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RAYON_NUM_THREADS=1")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, b)
	}
	m := rePeer.FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no peer_pipeline line in: %s", b)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// rss reads the resident set size and its peak from /proc.
func rss() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	var cur, peak string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			cur = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peak = strings.TrimSpace(v)
		}
	}
	return cur + " (peak " + peak + ")"
}

// Command jsonmaps is the yardstick of the replay benchmark: it decodes a
// JSON Lines file into map[string]any per line with the fastest general JSON
// library available here (bytedance/sonic), which is what a plain consumer
// written without a schema does, and prints the rate. It lives in a module of
// its own so that the project does not depend on sonic.
//
//	go run . file.jsonl
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/bytedance/sonic"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: jsonmaps file.jsonl")
		os.Exit(2)
	}
	start := time.Now()
	n, err := decode(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "jsonmaps:", err)
		os.Exit(1)
	}
	s := time.Since(start).Seconds()
	fmt.Printf("%d lines in %.3f s = %.0f lines/s\n", n, s, float64(n)/s)
}

// decode reads the file as the replay command does, a buffered line at a time,
// and decodes every line into a fresh map, which is kept until the next one.
func decode(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := sonic.Unmarshal(sc.Bytes(), &m); err != nil {
			return n, fmt.Errorf("line %d: %w", n+1, err)
		}
		if len(m) == 0 {
			return n, fmt.Errorf("line %d: empty object", n+1)
		}
		n++
	}
	return n, sc.Err()
}

// The oras-go peer of bench/agent.ts: pulls every reference listed in a file into a directory with
// oras-go v1 (Debian's golang-oras-oras-go-dev, the library the seed's asmwasm-controller uses), a fixed
// number at a time, the way that controller does it: oras.Copy from the registry into a content.File
// store, which verifies each blob's digest, fsyncs it and writes it under its title annotation.
//
// Built by the bench (not committed as a binary):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o oras-pull bench/oras-pull/main.go
//	oras-pull REFS_FILE DIR CONCURRENCY DOCKER_CONFIG
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"oras.land/oras-go/pkg/content"
	"oras.land/oras-go/pkg/oras"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: oras-pull REFS_FILE DIR CONCURRENCY DOCKER_CONFIG")
		os.Exit(2)
	}
	refs, err := readLines(os.Args[1])
	if err != nil {
		fail(err)
	}
	dir := os.Args[2]
	concurrency, err := strconv.Atoi(os.Args[3])
	if err != nil || concurrency < 1 {
		fail(fmt.Errorf("bad concurrency %q", os.Args[3]))
	}
	registry, err := content.NewRegistry(content.RegistryOptions{PlainHTTP: true, Configs: []string{os.Args[4]}})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	work := make(chan string)
	errs := make(chan error, len(refs))
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range work {
				store := content.NewFile(dir)
				_, err := oras.Copy(ctx, registry, ref, store, "")
				if cerr := store.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", ref, err)
				}
			}
		}()
	}
	for _, ref := range refs {
		work <- ref
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		fail(err)
	}
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if line := strings.TrimSpace(scanner.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	return lines, scanner.Err()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "oras-pull:", err)
	os.Exit(1)
}

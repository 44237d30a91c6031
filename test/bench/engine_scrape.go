package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// benchMetricsAddress is where the -engine agent serves Prometheus
// metrics, on the host namespace's own loopback.
const benchMetricsAddress = "127.0.0.1:9465"

// scrapeResult is what scraping the agent's /metrics costs at one size.
type scrapeResult struct {
	p50, p99 time.Duration
	bytes    int
	series   int
}

// measureScrape scrapes http://benchMetricsAddress/metrics from inside
// host rounds times, one after the other, and reports the time to the
// last byte, the body's size and its number of series.
func measureScrape(ctx context.Context, host *topo.NS, rounds int) (scrapeResult, error) {
	var res scrapeResult
	client := scrapeClient(host)
	var took []time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		body, err := scrapeOnce(ctx, client)
		if err != nil {
			return res, err
		}
		took = append(took, time.Since(start))
		res.bytes = len(body)
		res.series = countSeries(body)
	}
	xs := durationsMS(took)
	res.p50 = time.Duration(percentile(xs, 50) * float64(time.Millisecond))
	res.p99 = time.Duration(percentile(xs, 99) * float64(time.Millisecond))
	return res, nil
}

// scrapeClient dials from inside host (its loopback is not the test's).
func scrapeClient(host *topo.NS) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = host.Do(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
}

func scrapeOnce(ctx context.Context, client *http.Client) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+benchMetricsAddress+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("scrape: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape: %s", resp.Status)
	}
	return string(b), nil
}

// countSeries counts the sample lines of a text exposition.
func countSeries(body string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

// scrapeBeside runs scrapes back to back until ctx ends; it returns how
// many completed.
func scrapeBeside(ctx context.Context, host *topo.NS) <-chan int {
	done := make(chan int, 1)
	go func() {
		client := scrapeClient(host)
		n := 0
		for ctx.Err() == nil {
			if _, err := scrapeOnce(ctx, client); err == nil {
				n++
			}
		}
		done <- n
	}()
	return done
}

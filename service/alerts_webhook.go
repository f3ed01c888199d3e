package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lamb/internal/netguard"
)

// webhookSender POSTs budget alerts to orgs' webhooks from a bounded
// queue, with a few workers: a receiver that is down, slow or hangs holds
// a worker for at most Attempts tries of Timeout each (and the waits
// between them), and when the queue is full a new alert's delivery is
// dropped, logged and counted rather than waited for. The checker only
// enqueues, and completions never touch it.
type webhookSender struct {
	opts   AlertOptions
	client *http.Client
	log    *slog.Logger
	queue  chan webhookJob
	// done records how a delivery went (the alert's row shows it).
	done func(id int64, outcome string)

	delivered, failed, dropped atomic.Int64
}

type webhookJob struct {
	id   int64 // the alert's row
	url  string
	body []byte
}

func newWebhookSender(opts AlertOptions, logger *slog.Logger, done func(id int64, outcome string)) *webhookSender {
	dialer := &net.Dialer{Timeout: opts.Timeout}
	if !opts.AllowPrivate {
		dialer.Control = netguard.Control
	}
	transport := &http.Transport{
		// No proxy from the environment: the address dialled must be the
		// one checked.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       time.Minute,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		// A redirect is an answer, not an instruction: following it would
		// send the alert (and reach an address) nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &webhookSender{opts: opts, client: client, log: logger, queue: make(chan webhookJob, opts.Queue), done: done}
}

// enqueue queues a delivery without waiting: a full queue drops it.
func (w *webhookSender) enqueue(j webhookJob) {
	select {
	case w.queue <- j:
	default:
		w.dropped.Add(1)
		w.log.Warn("budget alert webhook dropped: its queue is full (receivers slow or down)", "alert", j.id, "queue", cap(w.queue))
		w.done(j.id, "dropped: the webhook queue was full (receivers slow or down)")
	}
}

// start runs the workers until ctx is done.
func (w *webhookSender) start(ctx context.Context, wg *sync.WaitGroup) {
	for range w.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-w.queue:
					w.deliver(ctx, j)
				}
			}
		})
	}
}

// deliver tries a delivery up to Attempts times, waiting Backoff, then
// twice as long each time, between tries that may succeed later.
func (w *webhookSender) deliver(ctx context.Context, j webhookJob) {
	wait := w.opts.Backoff
	var err error
	tries := 0
	for tries < w.opts.Attempts {
		tries++
		var status int
		var again bool
		status, again, err = w.post(ctx, j.url, j.body)
		if err == nil {
			w.delivered.Add(1)
			w.done(j.id, fmt.Sprintf("delivered (HTTP %d)", status))
			return
		}
		if ctx.Err() != nil {
			w.done(j.id, "not delivered: lamb stopped before the webhook answered")
			return
		}
		if !again || tries == w.opts.Attempts {
			break
		}
		select {
		case <-ctx.Done():
			w.done(j.id, "not delivered: lamb stopped while retrying after: "+err.Error())
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Minute)
	}
	w.failed.Add(1)
	w.log.Warn("budget alert webhook failed", "alert", j.id, "host", webhookHost(j.url), "tries", tries, "err", err)
	w.done(j.id, fmt.Sprintf("failed after %s: %v", triesText(tries), err))
}

func triesText(n int) string {
	if n == 1 {
		return "1 try"
	}
	return strconv.Itoa(n) + " tries"
}

// post sends one try. again says whether a later try may succeed. Errors
// never carry the URL: its path is usually the webhook's credential.
func (w *webhookSender) post(ctx context.Context, target string, body []byte) (status int, again bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, false, errors.New("the webhook URL can't be used")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lamb-budget-alerts")
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		switch {
		case errors.Is(err, netguard.ErrBlocked):
			return 0, false, fmt.Errorf("refused: %s resolves to an address lamb doesn't send to (%w)", webhookHost(target), netguard.ErrBlocked)
		case errors.Is(err, context.DeadlineExceeded) || (ue != nil && ue.Timeout()):
			return 0, true, fmt.Errorf("%s did not answer within %s", webhookHost(target), w.opts.Timeout)
		case ctx.Err() != nil:
			return 0, false, errors.New("lamb stopped before the webhook answered")
		}
		return 0, true, fmt.Errorf("%s: %v", webhookHost(target), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	status = resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return status, false, nil
	case status >= 300 && status < 400:
		return status, false, fmt.Errorf("answered HTTP %d, a redirect, which lamb doesn't follow: set the webhook URL to where it points", status)
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return status, true, fmt.Errorf("answered HTTP %d", status)
	}
	return status, false, fmt.Errorf("answered HTTP %d: the receiver refused the alert; check its URL and what it accepts", status)
}

// webhookHost is what logs and messages say of a webhook URL: its host.
func webhookHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "the webhook"
	}
	return u.Host
}

// webhookPayload is what a webhook receives: the alert, and what it is.
type webhookPayload struct {
	Event string `json:"event"` // budget.alert, or budget.alert.test
	BudgetAlert
}

func webhookBody(event string, a BudgetAlert) []byte {
	a.Webhook = ""
	b, err := json.Marshal(webhookPayload{Event: event, BudgetAlert: a})
	if err != nil {
		panic(fmt.Sprintf("encode webhook payload: %v", err)) // strings, numbers and times only
	}
	return b
}

// recordDelivery stores how a delivery went in the alert's row.
func (s *Service) recordDelivery(id int64, outcome string) {
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.st.SetBudgetAlertDelivery(ctx, id, outcome); err != nil {
		s.log.Warn("record budget alert webhook outcome", "alert", id, "err", err)
	}
}

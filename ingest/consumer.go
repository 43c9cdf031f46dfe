// Package ingest consumes posts from Kafka and hands them, in per-worker
// batches, to a handler, committing an offset only once the outcome of
// every message up to it is durable.
//
// It owns the post message schema, the dead-letter topic, and the
// per-partition commit bookkeeping. It does not score posts or store
// cases: the Handler it is given does.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Handler makes the outcome of valid posts durable. A worker hands it the
// posts waiting in its queue, at most MaxBatch at a time, in fetch order
// (one author's posts always go to the same worker, in order), so the
// handler can write them in one round trip. An error means no outcome of
// the batch counts as durable: the consumer retries the whole batch (with
// backoff) and commits nothing past it until it succeeds, so Handle must
// be idempotent per post.
type Handler interface {
	Handle(ctx context.Context, posts []Post) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, posts []Post) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, posts []Post) error { return f(ctx, posts) }

// Options configures a Consumer.
type Options struct {
	Brokers         []string
	Topic           string        // default "posts"
	DeadLetterTopic string        // default Topic + ".dlq"
	GroupID         string        // default "lookout"
	MaxMessageBytes int           // default 64 KiB
	Workers         int           // default 8
	MaxBatch        int           // most posts handed to the handler at once; default 64
	CommitInterval  time.Duration // how often done prefixes are committed; default 200ms
	DrainTimeout    time.Duration // bound on finishing in-flight work at shutdown; default 10s
	SessionTimeout  time.Duration // consumer group session timeout; default 10s
	// StallTimeout: when nothing is fetched for this long while the last
	// fetch left messages behind (lag > 0), the watchdog restarts the
	// reader. Default 60s. A new reader first joins the group, which can
	// take a rebalance: after each restart without progress the watchdog
	// waits twice as long (up to 8x), so that a slow join is not taken
	// for a stall again and again.
	StallTimeout time.Duration
	Dialer       *kafka.Dialer // TLS and SASL; nil for plain TCP
	Transport    *kafka.Transport
	Handler      Handler
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

func (o *Options) setDefaults() {
	if o.Topic == "" {
		o.Topic = "posts"
	}
	if o.DeadLetterTopic == "" {
		o.DeadLetterTopic = o.Topic + ".dlq"
	}
	if o.GroupID == "" {
		o.GroupID = "lookout"
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.Workers == 0 {
		o.Workers = 8
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 64
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = 200 * time.Millisecond
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 10 * time.Second
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first bad option, naming it.
func (o *Options) Validate() error {
	switch {
	case len(o.Brokers) == 0:
		return errors.New("brokers: at least one broker address is required")
	case o.Handler == nil:
		return errors.New("handler: required")
	case o.Topic == o.DeadLetterTopic:
		return errors.New("dead-letter topic: must differ from the posts topic")
	case o.MaxMessageBytes < 1024 || o.MaxMessageBytes > 16<<20:
		return fmt.Errorf("max message bytes: %d is outside 1 KiB-16 MiB", o.MaxMessageBytes)
	case o.Workers < 1 || o.Workers > 1024:
		return fmt.Errorf("workers: %d is outside 1-1024", o.Workers)
	case o.MaxBatch < 1 || o.MaxBatch > 4096:
		return fmt.Errorf("max batch: %d is outside 1-4096", o.MaxBatch)
	}
	return nil
}

// Consumer reads the posts topic as a member of a consumer group.
type Consumer struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	track   *tracker

	lagMu sync.Mutex
	lag   map[int]int64 // partition -> messages behind at its last fetch
}

// New returns a Consumer; Run starts it.
func New(opts Options) (*Consumer, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Consumer{
		opts:    opts,
		log:     opts.Logger.With("component", "ingest"),
		metrics: newMetrics(opts.Registerer),
		track:   newTracker(),
		lag:     make(map[int]int64),
	}, nil
}

// Run consumes until ctx is cancelled, then stops fetching, finishes the
// messages in flight (bounded by DrainTimeout), commits, and returns.
func (c *Consumer) Run(ctx context.Context) error {
	o := c.opts
	readerConfig := kafka.ReaderConfig{
		Brokers:        o.Brokers,
		GroupID:        o.GroupID,
		Topic:          o.Topic,
		Dialer:         o.Dialer,
		StartOffset:    kafka.FirstOffset, // a new group reads the topic from its start
		CommitInterval: 0,                 // synchronous commits, only of done prefixes
		MinBytes:       1,
		MaxBytes:       8 << 20,
		// MaxWait is also kafka-go's deadline for the answer's first
		// bytes: with data waiting, a broker answers at once (MinBytes 1),
		// but building an 8 MB answer can take longer than a short wait
		// on a loaded machine, and a fetch that times out is retried at
		// the same offset, forever ("i/o timeout", no progress). Idle, the
		// broker answers when a post arrives, so a longer wait adds no
		// latency.
		MaxWait:           2 * time.Second,
		ReadBatchTimeout:  2 * time.Second,
		HeartbeatInterval: time.Second,
		SessionTimeout:    o.SessionTimeout,
		RebalanceTimeout:  o.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		// kafka-go's errors are protocol and connection errors, never
		// message content: counted, and logged at debug level.
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) {
			c.metrics.kafkaErrors.Inc()
			c.log.Debug("kafka client error", "err", fmt.Sprintf(f, a...))
		}),
	}
	// The reader can be replaced by the watchdog; the committer reads it
	// under readerMu.
	var readerMu sync.Mutex
	reader := kafka.NewReader(readerConfig)
	currentReader := func() *kafka.Reader {
		readerMu.Lock()
		defer readerMu.Unlock()
		return reader
	}
	dlq := &kafka.Writer{
		Addr:         kafka.TCP(o.Brokers...),
		Topic:        o.DeadLetterTopic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  3,
	}
	// The group's committed offsets are read before each commit (see
	// commit), through the same transport as the dead-letter writer.
	offsetsClient := &kafka.Client{Addr: kafka.TCP(o.Brokers...), Timeout: 5 * time.Second}
	if o.Transport != nil { // a nil *Transport in the interface would not be nil
		dlq.Transport = o.Transport
		offsetsClient.Transport = o.Transport
	}

	// Work for one author always goes to the same worker, so one person's
	// posts are handled in order; different people's in parallel.
	queues := make([]chan kafka.Message, o.Workers)
	for i := range queues {
		queues[i] = make(chan kafka.Message, o.MaxBatch)
	}
	// handleCtx outlives ctx by at most DrainTimeout, so in-flight posts
	// can finish after a SIGTERM.
	handleCtx, cancelHandle := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandle()
	var workers sync.WaitGroup
	for _, q := range queues {
		workers.Go(func() {
			b := newBatch(o.MaxBatch)
			for msg := range q {
				b.reset()
				b.msgs = append(b.msgs, msg)
			gather: // and whatever else waits, up to MaxBatch
				for len(b.msgs) < o.MaxBatch {
					select {
					case msg, ok := <-q:
						if !ok {
							break gather
						}
						b.msgs = append(b.msgs, msg)
					default:
						break gather
					}
				}
				c.process(handleCtx, dlq, b)
			}
		})
	}

	commitDone := make(chan struct{})
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(commitDone)
		t := time.NewTicker(o.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-commitCtx.Done():
				return
			case <-t.C:
				c.commit(commitCtx, currentReader(), offsetsClient)
			}
		}
	}()

	// Fetch errors are transient (a rebalance, a broker restart, a
	// connection reset): they are counted and retried with backoff, and
	// the consumer never stops on one. Only a closed reader ends the loop.
	var fetchErr error
	backoff := 50 * time.Millisecond
	lagGauges := map[int]prometheus.Gauge{}
	stall := o.StallTimeout
	for ctx.Err() == nil {
		fetchCtx, cancelFetch := context.WithTimeout(ctx, stall)
		msg, err := reader.FetchMessage(fetchCtx)
		cancelFetch()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, context.DeadlineExceeded) {
				// Nothing fetched for StallTimeout: normal when caught up,
				// a stall when the last fetches left messages behind.
				if c.lagging() {
					c.metrics.readerRestarts.Inc()
					c.log.Warn("no progress while lagging; restarting the Kafka reader", "after", stall)
					stall = min(2*stall, 8*o.StallTimeout)
					old := reader
					readerMu.Lock()
					reader = kafka.NewReader(readerConfig)
					readerMu.Unlock()
					if err := old.Close(); err != nil {
						c.log.Warn("closing the stalled reader", "err", err)
					}
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				fetchErr = fmt.Errorf("fetch: %w", err)
				break
			}
			c.metrics.kafkaErrors.Inc()
			c.log.Warn("fetch failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff, stall = 50*time.Millisecond, o.StallTimeout
		c.metrics.consumed.Inc()
		behind := msg.HighWaterMark - msg.Offset - 1
		gauge := lagGauges[msg.Partition]
		if gauge == nil {
			gauge = c.metrics.lag.WithLabelValues(strconv.Itoa(msg.Partition))
			lagGauges[msg.Partition] = gauge
		}
		gauge.Set(float64(behind))
		c.lagMu.Lock()
		c.lag[msg.Partition] = behind
		c.lagMu.Unlock()
		c.track.fetched(msg.Partition, msg.Offset)
		select {
		case queues[fnv32a(msg.Key)%uint32(len(queues))] <- msg:
		case <-ctx.Done():
			// Not handed to a worker: it stays pending, so nothing after
			// it in its partition is committed; it is redelivered.
		}
	}

	// Drain: no more fetches; let the workers finish what they hold.
	for _, q := range queues {
		close(q)
	}
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(o.DrainTimeout):
		c.log.Warn("drain timed out; uncommitted posts will be redelivered", "in_flight", c.track.inFlight())
		cancelHandle()
		<-drained
	}
	stopCommits()
	<-commitDone
	finalCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	c.commit(finalCtx, currentReader(), offsetsClient)
	cancel()
	errs := []error{fetchErr}
	if err := reader.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close reader: %w", err))
	}
	if err := dlq.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close dead-letter writer: %w", err))
	}
	return errors.Join(errs...)
}

// commit commits every partition's done prefix that moved.
//
// A commit never moves the group's offset backwards. After a rebalance
// this consumer may still finish messages of a partition that another
// member now owns and has committed past; the broker accepts a commit
// from any member of the current generation, owner or not, so the group's
// committed offsets are read first and a partition already committed at
// or past this consumer's point is left alone (recorded as committed
// here). If they cannot be read, the commit goes ahead as before.
func (c *Consumer) commit(ctx context.Context, reader *kafka.Reader, client *kafka.Client) {
	offsets := c.track.toCommit()
	if len(offsets) == 0 {
		return
	}
	c.dropBehindGroup(ctx, client, offsets)
	if len(offsets) == 0 {
		return
	}
	msgs := make([]kafka.Message, 0, len(offsets))
	for part, next := range offsets {
		// CommitMessages commits one past the message's offset.
		msgs = append(msgs, kafka.Message{Topic: c.opts.Topic, Partition: part, Offset: next - 1})
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := reader.CommitMessages(cctx, msgs...)
	cancel()
	c.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		c.metrics.commitErrors.Inc()
		if ctx.Err() == nil {
			c.log.Warn("commit failed; will retry", "err", err)
		}
		return
	}
	c.track.committed(offsets)
}

// dropBehindGroup removes from offsets the partitions whose group offset
// is already at or past the offset this consumer would commit.
func (c *Consumer) dropBehindGroup(ctx context.Context, client *kafka.Client, offsets map[int]int64) {
	parts := make([]int, 0, len(offsets))
	for p := range offsets {
		parts = append(parts, p)
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := client.OffsetFetch(fctx, &kafka.OffsetFetchRequest{GroupID: c.opts.GroupID, Topics: map[string][]int{c.opts.Topic: parts}})
	cancel()
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil {
		c.metrics.kafkaErrors.Inc()
		c.log.Debug("reading the group's offsets before a commit", "err", err)
		return
	}
	behind := map[int]int64{}
	for _, p := range resp.Topics[c.opts.Topic] {
		if want, ok := offsets[p.Partition]; ok && p.Error == nil && p.CommittedOffset >= want {
			behind[p.Partition] = want
			delete(offsets, p.Partition)
		}
	}
	if len(behind) > 0 {
		c.metrics.staleCommits.Add(float64(len(behind)))
		c.track.committed(behind)
	}
}

// batch is one worker's messages in hand, and their decoded posts.
type batch struct {
	msgs  []kafka.Message
	posts []Post
	valid []kafka.Message // the messages of posts, in order
	bad   []badMessage
}

type badMessage struct {
	msg kafka.Message
	err *DecodeError
}

func newBatch(n int) *batch {
	return &batch{msgs: make([]kafka.Message, 0, n), posts: make([]Post, 0, n), valid: make([]kafka.Message, 0, n)}
}

func (b *batch) reset() {
	clear(b.msgs)
	clear(b.posts)
	clear(b.valid)
	clear(b.bad)
	b.msgs, b.posts, b.valid, b.bad = b.msgs[:0], b.posts[:0], b.valid[:0], b.bad[:0]
}

// process makes the outcome of each message durable, a handled post or a
// dead-letter record, retrying until it succeeds or ctx ends, and marks
// each done as it succeeds. The valid posts go first, so that a
// dead-letter topic that is down holds back only its own message.
func (c *Consumer) process(ctx context.Context, dlq *kafka.Writer, b *batch) {
	for _, msg := range b.msgs {
		post, err := DecodePost(msg.Value, c.opts.MaxMessageBytes)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				de = &DecodeError{Reason: ReasonInvalidJSON}
			}
			b.bad = append(b.bad, badMessage{msg: msg, err: de})
			continue
		}
		b.posts = append(b.posts, post)
		b.valid = append(b.valid, msg)
	}
	if len(b.posts) > 0 {
		c.metrics.batchSize.Observe(float64(len(b.posts)))
		if c.retry(ctx, "handle", func(ctx context.Context) error {
			return c.opts.Handler.Handle(ctx, b.posts)
		}) {
			for _, msg := range b.valid {
				c.track.markDone(msg.Partition, msg.Offset)
			}
		}
	}
	for _, bad := range b.bad {
		if c.retry(ctx, "dead-letter", func(ctx context.Context) error {
			return c.deadLetter(ctx, dlq, bad.msg, bad.err)
		}) {
			c.track.markDone(bad.msg.Partition, bad.msg.Offset)
		}
	}
}

// retry calls fn until it succeeds, backing off up to 5 s between tries.
func (c *Consumer) retry(ctx context.Context, what string, fn func(context.Context) error) bool {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(callCtx)
		cancel()
		if err == nil {
			return true
		}
		c.metrics.retries.WithLabelValues(what).Inc()
		if attempt == 0 || attempt%20 == 0 {
			c.log.Warn(what+" failed; retrying", "err", err, "attempt", attempt+1)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// deadLetter writes the message, unchanged, to the dead-letter topic with
// the reason and its source position in headers.
func (c *Consumer) deadLetter(ctx context.Context, dlq *kafka.Writer, msg kafka.Message, de *DecodeError) error {
	out := kafka.Message{
		Key:   msg.Key,
		Value: msg.Value,
		Headers: []kafka.Header{
			{Key: "reason", Value: []byte(de.Reason)},
			{Key: "detail", Value: []byte(de.Detail)},
			{Key: "source_topic", Value: []byte(msg.Topic)},
			{Key: "source_partition", Value: []byte(strconv.Itoa(msg.Partition))},
			{Key: "source_offset", Value: []byte(strconv.FormatInt(msg.Offset, 10))},
		},
	}
	if err := dlq.WriteMessages(ctx, out); err != nil {
		return fmt.Errorf("write dead-letter record: %w", err)
	}
	c.metrics.deadLettered.WithLabelValues(string(de.Reason)).Inc()
	return nil
}

// fnv32a is the FNV-1a hash of b (hash/fnv's, without its allocation).
func fnv32a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// lagging reports whether any partition had messages behind at its last
// fetch.
func (c *Consumer) lagging() bool {
	c.lagMu.Lock()
	defer c.lagMu.Unlock()
	for _, l := range c.lag {
		if l > 0 {
			return true
		}
	}
	return false
}

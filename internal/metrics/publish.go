package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxsensor/mxsensor/internal/fleet"
	"github.com/mxsensor/mxsensor/internal/publish"
)

// PublishSource is the publisher to the network of sensors;
// *publish.Publisher implements it.
type PublishSource interface {
	Stats() publish.Stats
}

// NewPublishCollector exports the publisher's counters and its outbox.
func NewPublishCollector(p PublishSource) prometheus.Collector { return newPublishCollector(p) }

type publishCollector struct {
	src                                                                  PublishSource
	rows, bytes, published, acked, dups, retries, dropped, dead, fly, up *prometheus.Desc
}

func newPublishCollector(p PublishSource) *publishCollector {
	return &publishCollector{src: p,
		rows:      desc("publish", "outbox_rows", "Messages in the outbox: not yet acknowledged by the NATS servers (committed to the store)."),
		bytes:     desc("publish", "outbox_bytes", "Size of the outbox (its bound is --outbox-size)."),
		published: desc("publish", "published_total", "Messages sent to the NATS servers."),
		acked:     desc("publish", "acknowledged_total", "Messages the servers acknowledged (and deleted from the outbox)."),
		dups:      desc("publish", "duplicates_total", "Acknowledged messages the stream already held (a retry, a second run over a capture)."),
		retries:   desc("publish", "retries_total", "Messages sent again after an error, a timeout or an outage."),
		dropped:   desc("publish", "dropped_total", "Messages the outbox gave up, by kind: SYN events and status first when it is full; attempts, associations and rejections only when nothing else is left (logged as errors).", "kind"),
		dead:      desc("publish", "dead_letters_total", "Messages the servers refused for good (a permissions violation, too large), given up after --publish's tries, by kind (logged as errors).", "kind"),
		fly:       desc("publish", "in_flight", "Messages sent and not yet acknowledged."),
		up:        desc("publish", "connected", "1 while connected to a NATS server."),
	}
}

func (c *publishCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.rows, c.bytes, c.published, c.acked, c.dups, c.retries, c.dropped, c.dead, c.fly, c.up)
}

func (c *publishCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	ch <- gauge(c.rows, float64(s.Outbox.Rows))
	ch <- gauge(c.bytes, float64(s.Outbox.Bytes))
	ch <- counter(c.published, s.Published)
	ch <- counter(c.acked, s.Acknowledged)
	ch <- counter(c.dups, s.Duplicates)
	ch <- counter(c.retries, s.Retries)
	for _, k := range fleet.Kinds {
		ch <- counter(c.dropped, s.Outbox.Dropped[string(k)], string(k))
		ch <- counter(c.dead, s.DeadLetters[string(k)], string(k))
	}
	ch <- gauge(c.fly, float64(s.InFlight))
	up := 0.0
	if s.Connected {
		up = 1
	}
	ch <- gauge(c.up, up)
}

package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func BenchmarkObserveLoop(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveLoop(20 * time.Microsecond)
		}
	})
}

func BenchmarkObserveRPC(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRPC("heartbeat", 0, 50*time.Microsecond)
		}
	})
}

func BenchmarkObserveCommit(b *testing.B) {
	m := New(prometheus.NewRegistry())
	for b.Loop() {
		m.ObserveCommit(40*time.Microsecond, 16)
	}
}

func BenchmarkNilObserveRPC(b *testing.B) {
	var m *Metrics
	for b.Loop() {
		m.ObserveRPC("heartbeat", 0, 50*time.Microsecond)
	}
}

func BenchmarkSamples8192(b *testing.B) {
	m := New(nil)
	for i := 0; i < 8192; i++ {
		m.ObserveLoop(time.Duration(i))
	}
	for b.Loop() {
		_ = m.Samples(time.Minute)
	}
}

package message

import (
	"container/list"
	"context"
	"sync"
)

// MemoryStore is the in-process DedupeStore: keys in progress are always
// kept, processed keys are kept up to a bound and then forgotten oldest first,
// so memory stays flat however long the process runs. Redeliveries normally
// follow within minutes, which a bound of thousands covers.
type MemoryStore struct {
	mu         sync.Mutex
	max        int
	inProgress map[string]struct{}
	done       map[string]*list.Element
	order      *list.List // of string, oldest at the front
}

// NewMemoryStore keeps up to max processed keys (at least 1).
func NewMemoryStore(max int) *MemoryStore {
	if max < 1 {
		max = 1
	}
	return &MemoryStore{max: max, inProgress: map[string]struct{}{}, done: map[string]*list.Element{}, order: list.New()}
}

// Claim implements DedupeStore.
func (s *MemoryStore) Claim(_ context.Context, key string) (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.done[key]; ok {
		return StateDone, nil
	}
	if _, ok := s.inProgress[key]; ok {
		return StateInProgress, nil
	}
	s.inProgress[key] = struct{}{}
	return StateNew, nil
}

// Done implements DedupeStore.
func (s *MemoryStore) Done(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inProgress, key)
	if _, ok := s.done[key]; ok {
		return nil
	}
	s.done[key] = s.order.PushBack(key)
	for s.order.Len() > s.max {
		oldest := s.order.Front()
		s.order.Remove(oldest)
		delete(s.done, oldest.Value.(string))
	}
	return nil
}

// Release implements DedupeStore.
func (s *MemoryStore) Release(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inProgress, key)
	return nil
}

// Len reports how many processed keys are remembered, for monitoring.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

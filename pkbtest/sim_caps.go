package pkbtest

// DefaultResultCap is the most results a Facade search of a resource type
// returns: PKB's fhir.api.<Type>.maxNumberOfResources, 60,000 for
// Observation, 10,000 for DocumentReference and 1,000 for every other type
// (docs/pkb-api.md §2.1). Beyond it PKB truncates silently: total counts
// what is left, and nothing says results are missing.
func DefaultResultCap(resourceType string) int {
	switch resourceType {
	case "Observation":
		return 60000
	case "DocumentReference":
		return 10000
	}
	return 1000
}

// WithResultCap sets the Facade's result cap for one resource type ("" for
// every type without its own), so that a test can show truncation with a
// handful of results instead of 60,000; n < 1 is ignored.
func WithResultCap(resourceType string, n int) SimOption {
	return func(s *simSettings) {
		if n < 1 {
			return
		}
		if s.caps == nil {
			s.caps = map[string]int{}
		}
		s.caps[resourceType] = n
	}
}

// resultCap is the Facade's cap for a resource type.
func (s *Simulator) resultCap(resourceType string) int {
	if n, ok := s.caps[resourceType]; ok {
		return n
	}
	if n, ok := s.caps[""]; ok {
		return n
	}
	return DefaultResultCap(resourceType)
}

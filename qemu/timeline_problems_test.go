package qemu

import (
	"strings"
	"testing"
)

// Problems accepts a complete ordered timeline and names each defect of a
// broken one.
func TestTimelineProblems(t *testing.T) {
	stages := []TimelineStage{{Name: "a"}, {Name: "b"}}
	good := &Timeline{Marks: []TimelineMark{
		{Stage: "a", AtMS: 10, DurationMS: 10, Line: "x"},
		{Stage: "b", AtMS: 25, DurationMS: 15, Line: "y"},
	}}
	if p := good.Problems(stages); p != nil {
		t.Fatalf("complete timeline: %v", p)
	}
	bad := &Timeline{Missed: []string{"b"}, Marks: []TimelineMark{{Stage: "b", AtMS: 0, DurationMS: 0}}}
	got := strings.Join(bad.Problems(stages), "; ")
	for _, want := range []string{"stages not seen: b", "1 stages of 2", `stage 0 is "b", want "a"`, "b: at 0.0 ms"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %q", want, got)
		}
	}
}

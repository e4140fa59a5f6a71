package apply_test

import (
	"sync"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
)

// TestSurvivesConcurrentFirstRolloutID: two updates of one client that
// meet their first staged rollout at once must place the client by the
// same id, or the client would be in for one and out for the other and
// keep whichever id was written last.
func TestSurvivesConcurrentFirstRolloutID(t *testing.T) {
	for range 50 {
		dir := t.TempDir()
		var ids [4]string
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				id, err := apply.StoredRolloutID(dir)
				if err != nil {
					t.Error(err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("concurrent first uses drew different rollout ids: %q", ids)
			}
		}
		again, err := apply.StoredRolloutID(dir)
		if err != nil || again != ids[0] {
			t.Fatalf("stored id %q, %v; the concurrent calls returned %q", again, err, ids[0])
		}
	}
}

package apply_test

import (
	"context"
	"strings"
	"testing"

	"github.com/safeupdate/safeupdate/apply"
)

func TestInstallOptionErrors(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name string
		opt  apply.Option
		want string
	}{
		{"nil pre-install check", apply.PreInstallCheck(nil), "PreInstallCheck"},
		{"zero rate", apply.MinimumRate(0), "MinimumRate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := apply.Apply(context.Background(), f.opts(tt.opt)...)
			if err == nil || !strings.HasPrefix(err.Error(), "apply: "+tt.want) {
				t.Errorf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
	if n := f.repo.count(""); n != 0 {
		t.Errorf("%d requests made, want none before the configuration is valid", n)
	}
}

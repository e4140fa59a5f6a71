package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/safeupdate/safeupdate/internal/kmstest"
)

// TestKMSScripts runs the KMS scripts (testdata/kms) against the AWS KMS
// emulator behind a TLS front: $KMS is the endpoint of awskms://$KMS/KEY,
// $ALIAS a prefix of aliases no other run uses, and the AWS SDK's
// environment is the front's (test CA, test credentials, no metadata
// service).
func TestKMSScripts(t *testing.T) {
	f := kmstest.Start(t)
	var b [6]byte
	rand.Read(b[:])
	alias := "alias/safeupdate-test/script-" + hex.EncodeToString(b[:])
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/kms",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			if err := setup(env); err != nil {
				return err
			}
			env.Setenv("KMS", f.Host)
			env.Setenv("ALIAS", alias+"-"+env.Getenv("WORK")[len(env.Getenv("WORK"))-6:])
			for _, k := range []string{"AWS_CA_BUNDLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
				"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"} {
				env.Setenv(k, os.Getenv(k))
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitcode,
			"mkexe":    cmdMkexe,
			"perm":     cmdPerm,
		},
	})
}

package blobrepo

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
	gcaws "gocloud.dev/aws"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// openS3 opens the S3 bucket of u (bucket and query only) as gocloud.dev's
// own s3blob URL opener does, taking the same query parameters, with one
// difference: the AWS SDK's logger is discarded. By default the SDK writes
// to the process's standard error, for instance "Response has no supported
// checksum" for every download from an S3-compatible server that sends no
// checksum. A library has no business writing to its host program's
// standard error; every failure is returned as an error anyway.
func openS3(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	q := u.Query()
	// take removes key from q and returns its value, if given.
	take := func(key string) (string, bool) {
		v := q.Get(key)
		q.Del(key)
		return v, v != ""
	}
	takeBool := func(key string) (value, given bool, err error) {
		v, ok := take(key)
		if !ok {
			return false, false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, false, fmt.Errorf("invalid value for %q: %w", key, err)
		}
		return b, true, nil
	}

	var bopts s3blob.Options
	if v, ok := take("ssetype"); ok {
		for _, t := range types.ServerSideEncryptionAes256.Values() {
			if strings.EqualFold(string(t), v) {
				bopts.EncryptionType = t
			}
		}
		if bopts.EncryptionType == "" {
			return nil, fmt.Errorf("%q is not a valid value for %q", v, "ssetype")
		}
	}
	bopts.KMSEncryptionID, _ = take("kmskeyid")

	var copts []func(*s3.Options)
	accelerate, _, err := takeBool("accelerate")
	if err != nil {
		return nil, err
	}
	disableHTTPS, setHTTPS, err := takeBool("disable_https")
	if err != nil {
		return nil, err
	}
	copts = append(copts, func(o *s3.Options) {
		o.UseAccelerate = accelerate
		if setHTTPS {
			o.EndpointOptions.DisableHTTPS = disableHTTPS
		}
	})
	for _, key := range []string{"use_path_style", "s3ForcePathStyle"} {
		pathStyle, given, err := takeBool(key)
		if err != nil {
			return nil, err
		}
		if given {
			copts = append(copts, func(o *s3.Options) { o.UsePathStyle = pathStyle })
		}
	}

	// The rest (region, endpoint, profile, anonymous, role, checksum
	// modes, ...) is gocloud.dev's, which refuses parameters it does not
	// know.
	cfg, err := gcaws.V2ConfigFromURLParams(ctx, q)
	if err != nil {
		return nil, err
	}
	cfg.Logger = logging.Nop{}
	// As s3blob does: its uploads do not take the setting from the client.
	bopts.RequestChecksumCalculation = cfg.RequestChecksumCalculation
	return s3blob.OpenBucket(ctx, s3.NewFromConfig(cfg, copts...), u.Host, &bopts)
}

package blobrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// bucketStore is a backend over a gocloud.dev bucket (s3, gs or azblob).
type bucketStore struct {
	b      *blob.Bucket
	scheme string
}

func openBucket(ctx context.Context, u *url.URL) (backend, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("%s URL has no bucket name", u.Scheme)
	}
	// Only the bucket and the driver's query go to the opener; the prefix
	// is kept by Store so that every key passes ValidPath first.
	bu := &url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	// Importing the drivers registered their default openers, which read
	// credentials from the environment, on blob.DefaultMux; S3 has its own
	// (see openS3).
	var b *blob.Bucket
	var err error
	if u.Scheme == s3blob.Scheme {
		b, err = openS3(ctx, bu)
	} else {
		b, err = blob.OpenBucket(ctx, bu.String())
	}
	if err != nil {
		return nil, err
	}
	ok, err := b.IsAccessible(ctx)
	if err == nil && !ok {
		err = fmt.Errorf("%w: bucket %q (or no permission to see it)", ErrNotFound, u.Host)
	}
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return &bucketStore{b: b, scheme: u.Scheme}, nil
}

// classify maps a driver error to this package's sentinels, keeping the
// original in the chain for callers that want the details.
func classify(err error, createOnly bool) error {
	if err == nil {
		return nil
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	case gcerrors.PermissionDenied:
		return fmt.Errorf("%w (%w)", ErrForbidden, err)
	case gcerrors.FailedPrecondition:
		if createOnly {
			return fmt.Errorf("%w (%w)", ErrExists, err)
		}
		return fmt.Errorf("%w (%w)", ErrPrecondition, err)
	}
	// S3 answers 409 ConditionalRequestConflict when conditional writes to
	// one key overlap; nothing was written.
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ConditionalRequestConflict" {
		return fmt.Errorf("%w (%w)", ErrPrecondition, err)
	}
	return err
}

func (s *bucketStore) get(ctx context.Context, key string, offset, limit int64) (io.ReadCloser, error) {
	if limit < 0 {
		limit = -1
	}
	r, err := s.b.NewRangeReader(ctx, key, offset, limit, nil)
	if err == nil {
		return r, nil
	}
	if gcerrors.Code(err) != gcerrors.NotFound {
		// The stores disagree at and past the end (416 or not); answer
		// as file:// does.
		if a, aerr := s.b.Attributes(ctx, key); aerr == nil && offset >= a.Size {
			return endOfObject(offset, a.Size)
		}
	}
	return nil, classify(err, false)
}

func (s *bucketStore) put(ctx context.Context, key string, r io.Reader, opts PutOptions) error {
	wopts := &blob.WriterOptions{ContentType: opts.ContentType, IfNotExist: opts.CreateOnly}
	if opts.IfMatch != "" {
		wopts.BeforeWrite = s.ifMatch(opts.IfMatch)
	}
	// Cancelling the writer's context before Close aborts the upload, so a
	// reader that fails half way never leaves a truncated object behind.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.b.NewWriter(wctx, key, wopts)
	if err != nil {
		return classify(err, opts.CreateOnly)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close()
		return fmt.Errorf("upload aborted, nothing written: %w", err)
	}
	err = w.Close()
	if opts.IfMatch != "" && gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w: object is gone (%w)", ErrPrecondition, err)
	}
	return classify(err, opts.CreateOnly)
}

// ifMatch returns a BeforeWrite hook that makes the upload conditional on
// the object's current version token, through each driver's own request.
func (s *bucketStore) ifMatch(token string) func(func(any) bool) error {
	return func(as func(any) bool) error {
		switch s.scheme {
		case s3blob.Scheme:
			var in *transfermanager.UploadObjectInput
			if as(&in) {
				in.IfMatch = &token
				return nil
			}
		case gcsblob.Scheme:
			gen, err := strconv.ParseInt(token, 10, 64)
			if err != nil || gen <= 0 {
				return fmt.Errorf("%w: %q is not a GCS generation", ErrPrecondition, token)
			}
			var obj **storage.ObjectHandle
			if as(&obj) {
				*obj = (*obj).If(storage.Conditions{GenerationMatch: gen})
				return nil
			}
		case azureblob.Scheme:
			var o *azblob.UploadStreamOptions
			if as(&o) {
				etag := azcore.ETag(token)
				o.AccessConditions = &azblobblob.AccessConditions{
					ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfMatch: &etag},
				}
				return nil
			}
		}
		return fmt.Errorf("%w: IfMatch on %s with this driver version", ErrUnsupported, s.scheme)
	}
}

func (s *bucketStore) attributes(ctx context.Context, key string) (Attrs, error) {
	a, err := s.b.Attributes(ctx, key)
	if err != nil {
		return Attrs{}, classify(err, false)
	}
	token := a.ETag
	if s.scheme == gcsblob.Scheme {
		var oa storage.ObjectAttrs
		if !a.As(&oa) {
			return Attrs{}, fmt.Errorf("%w: no GCS generation in the attributes", ErrUnsupported)
		}
		token = strconv.FormatInt(oa.Generation, 10)
	}
	return Attrs{Size: a.Size, ModTime: a.ModTime, Token: token}, nil
}

func (s *bucketStore) list(ctx context.Context, prefix string, fn func(string) error) error {
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return classify(err, false)
		}
		if err := fn(obj.Key); err != nil {
			return err
		}
	}
}

func (s *bucketStore) delete(ctx context.Context, key string) error {
	return classify(s.b.Delete(ctx, key), false)
}

func (s *bucketStore) close() error { return s.b.Close() }

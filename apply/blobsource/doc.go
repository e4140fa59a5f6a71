// Package blobsource lets apply read a repository from an object store
// bucket: Amazon S3 and S3-compatible servers (s3://), Google Cloud Storage
// (gs://), Azure Blob Storage (azblob://), and a local directory (file://).
//
//	src, err := blobsource.Open(ctx, "s3://my-bucket/myapp?region=eu-west-1")
//	if err != nil { ... }
//	defer src.Close()
//	err = apply.Apply(ctx, apply.WithSource(src), apply.Version("2.0.0"), apply.PublicKey(pub))
//
// It is a separate package because the cloud drivers are heavy: importing
// it links the AWS, Google Cloud and Azure SDKs (through gocloud.dev/blob
// and package blobrepo) into the program, tens of megabytes. Package apply
// itself never imports them, so a program that updates over HTTPS stays
// small; only a program that imports blobsource pays for the clouds.
//
// # Threat model
//
// The bucket is not trusted. Anyone who can write to it, and anyone who can
// tamper with the connection to it, is assumed hostile: apply bounds every
// read, verifies release.json against the pinned keys before reading
// anything else, and checks the payload's size and hash against the signed
// release while it streams (see package apply). A Source only fetches
// bytes; it verifies nothing, and nothing it returns is acted on unverified.
// What it adds is confinement: every path is checked (blobrepo.ValidPath)
// before any request, so no path can leave the URL's key prefix, and a
// file:// repository is read through apply.DirSource, which opens files
// through os.Root (no symbolic link out of the directory) and serves regular
// files only (a FIFO planted there cannot block the update).
//
// What is NOT protected: read access. Credentials let the updating program
// read, and with broad ones write, the bucket; give it read-only
// credentials, or none for a public bucket. A store that withholds new
// releases (freeze) is only detected with channels and a trust root
// (apply.TrustRoot, apply.Channel), as over HTTPS.
//
// # Credentials
//
// Credentials come from the drivers' usual sources, never from this
// package; the URL's query only selects endpoints and options:
//   - s3: the AWS SDK v2 default chain: AWS_ACCESS_KEY_ID,
//     AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_PROFILE with
//     ~/.aws/config and ~/.aws/credentials, web identity
//     (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE), ECS and EC2 instance
//     roles; region from the URL's region=, else AWS_REGION. For a public
//     bucket, add anonymous=true to the URL.
//   - gs: Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS,
//     the gcloud CLI's credentials, or the GCE/GKE metadata server. With
//     STORAGE_EMULATOR_HOST set, requests go to that emulator without
//     credentials. For a public bucket, add anonymous=true.
//   - azblob: AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (shared key),
//     else AZURE_STORAGE_SAS_TOKEN, else AZURE_STORAGE_CONNECTION_STRING,
//     else azidentity.DefaultAzureCredential (AZURE_CLIENT_ID,
//     AZURE_TENANT_ID, managed identity, Azure CLI, ...).
//   - file: the file system permissions of the process.
//
// # Errors
//
// A missing object is an error wrapping apply.ErrNotFound (and, for the
// clouds, blobrepo.ErrNotFound); an object the store refuses for lack of
// permission, one wrapping apply.ErrForbidden and blobrepo.ErrForbidden
// (S3 answers so for a missing key to a reader that may not list the
// bucket: apply then takes it as the end of the chain of roots, and as an
// error anywhere else). A resumption offset past the end of an object
// means the object changed since the download began; the error wraps
// blobrepo.ErrRange. Errors keep the *blobrepo.OpError and the driver's
// error in their chain.
//
// # Compatibility
//
// URLs are gocloud.dev v0.48 bucket URLs with a key prefix, exactly as
// package blobrepo (and so `repotool add --repo`) takes them:
// s3://bucket/prefix?query, gs://bucket/prefix?query,
// azblob://container/prefix?query, and file:///absolute/dir (no query).
// Object keys equal repository paths under the prefix, so a repository
// copied into a bucket with any tool (aws s3 sync, gcloud storage cp,
// azcopy) reads the same as one published there by repotool.
package blobsource

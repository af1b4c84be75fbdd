package s3store

import (
	"strings"
	"testing"
)

const samplePage = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>repo/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>tok&amp;1</NextContinuationToken><Contents><Key>repo/a&amp;b</Key><LastModified>2026-11-28T04:19:21.123Z</LastModified><ETag>&quot;x&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>repo/c</Key><LastModified>2026-11-28T04:19:22Z</LastModified><Size>1</Size></Contents><CommonPrefixes><Prefix>repo/d/</Prefix></CommonPrefixes></ListBucketResult>`

func TestParsePage(t *testing.T) {
	p, err := ParsePage([]byte(samplePage))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Objects) != 2 || p.Objects[0].Key != "repo/a&b" || p.Objects[0].Size != 42 || p.Objects[1].LastModified.Second() != 22 {
		t.Errorf("objects %+v", p.Objects)
	}
	if !p.Truncated || p.NextToken != "tok&1" || len(p.Prefixes) != 1 || p.Prefixes[0] != "repo/d/" {
		t.Errorf("page %+v", p)
	}
	for _, bad := range []string{"<Error><Code>AccessDenied</Code></Error>", "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><LastModified>yesterday</LastModified></Contents></ListBucketResult>"} {
		if _, err := ParsePage([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzParsePage: listing pages come from the network.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte(samplePage))
	f.Add([]byte("<ListBucketResult><Contents><Key>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePage(body)
		if err != nil {
			return
		}
		for _, o := range p.Objects {
			if o.Key == "" || strings.Contains(o.Key, "</Key>") {
				t.Fatalf("accepted key %q", o.Key)
			}
		}
	})
}

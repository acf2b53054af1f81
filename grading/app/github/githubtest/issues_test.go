package githubtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"
)

func TestCommentsArePaginatedLikeGitHub(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	for i := range 5 {
		s.AddComment(org, "learner", 4, "learner", fmt.Sprint("human ", i))
	}
	s.AddComment(org, "learner", 5, "learner", "another pull request")
	c := appClient(t, s, instID)
	mine, _, err := c.Issues.CreateComment(ctx(t), org, "learner", 4, &github.IssueComment{Body: github.String("<!-- holdfast --> report")})
	if err != nil {
		t.Fatal(err)
	}
	if mine.GetUser().GetLogin() != s.BotLogin || mine.GetUser().GetType() != "Bot" {
		t.Errorf("the App's comment is by %q (%s), want %q (Bot)", mine.GetUser().GetLogin(), mine.GetUser().GetType(), s.BotLogin)
	}

	var bodies []string
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 2}}
	for pages := 0; ; pages++ {
		cs, resp, err := c.Issues.ListComments(ctx(t), org, "learner", 4, opts)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 && (resp.NextPage != 2 || resp.LastPage != 3) {
			t.Errorf("first page links next %d, last %d; want 2 and 3 (Link: %s)", resp.NextPage, resp.LastPage, resp.Header.Get("Link"))
		}
		for _, cm := range cs {
			bodies = append(bodies, cm.GetBody())
		}
		if resp.NextPage == 0 {
			if pages != 2 || resp.PrevPage != 2 || resp.FirstPage != 1 {
				t.Errorf("ended after page %d with prev %d, first %d; want page 3 with prev 2, first 1", pages+1, resp.PrevPage, resp.FirstPage)
			}
			break
		}
		opts.Page = resp.NextPage
	}
	if want := "human 0,human 1,human 2,human 3,human 4,<!-- holdfast --> report"; strings.Join(bodies, ",") != want {
		t.Errorf("listed %q, want %q", strings.Join(bodies, ","), want)
	}

	if _, _, err := c.Issues.EditComment(ctx(t), org, "learner", mine.GetID(), &github.IssueComment{Body: github.String("updated")}); err != nil {
		t.Fatal(err)
	}
	got := s.Comments(org, "learner", 4)
	last := got[len(got)-1]
	if len(got) != 6 || last.ID != mine.GetID() || last.Body != "updated" || last.Updated != 1 || last.Login != s.BotLogin {
		t.Errorf("comments = %+v; want 6 with the App's edited once", got)
	}
	if got[0].Login != "learner" || got[0].Updated != 0 {
		t.Errorf("seeded comment = %+v", got[0])
	}
}

func TestPullRequestsByHeadAndByCommit(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetPull(org, "learner", 1, "stage-1", "aaaaaaa", "main")
	s.SetPull(org, "learner", 2, "stage-2", "bbbbbbb", "main")
	s.SetPull(org, "learner", 2, "stage-2", "ccccccc", "main") // a push moves its head
	c := tokenClient(t, s, instID)

	prs, _, err := c.PullRequests.List(ctx(t), org, "learner", &github.PullRequestListOptions{Head: org + ":stage-2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(prs) != 1 || prs[0].GetNumber() != 2 || prs[0].GetHead().GetSHA() != "ccccccc" || prs[0].GetBase().GetRef() != "main" {
		t.Errorf("pulls with head stage-2 = %v", prs)
	}
	all, _, err := c.PullRequests.List(ctx(t), org, "learner", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].GetNumber() != 2 {
		t.Errorf("open pulls = %d, first #%d; want 2, newest first", len(all), all[0].GetNumber())
	}
	byCommit, _, err := c.PullRequests.ListPullRequestsWithCommit(ctx(t), org, "learner", "aaaaaaa", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(byCommit) != 1 || byCommit[0].GetNumber() != 1 {
		t.Errorf("pulls of commit aaaaaaa = %v, want #1", byCommit)
	}
}

/// The one HTML page; `app.js` draws each view into `<main>` by the URL's hash.
enum IndexPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>syncd</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="#/">syncd</a>
  <nav aria-label="Main">
    <ul>
      <li><a href="#/" data-nav="overview">Overview</a></li>
      <li><a href="#/collections" data-nav="collections">Data</a></li>
      <li><a href="#/conflicts" data-nav="conflicts">Conflicts <span id="conflict-badge" class="badge" aria-label="open conflicts"></span></a></li>
      <li><a href="#/changes" data-nav="changes">Recent changes <span id="changes-badge" class="badge" aria-label="changes since you last looked"></span></a></li>
      <li><a href="#/schema" data-nav="schema">Schema</a></li>
    </ul>
  </nav>
  <div id="connection" class="connection" role="status" aria-live="polite">connecting…</div>
</header>
<div id="toast" class="toast" role="status" aria-live="polite"></div>
<main id="main" tabindex="-1"><p>Loading…</p></main>
</body>
</html>
"""#
}

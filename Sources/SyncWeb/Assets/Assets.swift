import Foundation

/// The web app's files, compiled into the binary: no build step, no CDN.
enum Assets {
    static let files: [String: (type: String, body: String)] = [
        "index.html": ("text/html; charset=utf-8", IndexPage.html),
        "app.js": ("text/javascript; charset=utf-8", AppScript.source),
        "app.css": ("text/css; charset=utf-8", AppStyle.source),
        "favicon.ico": ("image/svg+xml", ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#0b5cad"/></svg>"##),
    ]

    static func response(for name: String) -> WebResponse {
        guard let file = files[name] else { return .text(404, "not found\n") }
        return WebResponse(status: 200, headers: [("Content-Type", file.type), ("Cache-Control", "no-cache")], body: Array(file.body.utf8))
    }

    /// A small page without script (login messages).
    static func page(status: Int, title: String, body: String) -> WebResponse {
        .text(status, """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · syncd</title><link rel="stylesheet" href="/app.css"></head>
            <body><main class="narrow"><h1>\(title)</h1><p>\(body)</p></main></body></html>
            """, type: "text/html; charset=utf-8")
    }

    static let passwordForm = """
        <form method="post" action="/login"><label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
        <button type="submit">Log in</button></form>
        """
}

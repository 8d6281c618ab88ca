// A TCP proxy in front of the server that the scenarios switch off and on: "offline"
// is the network gone (connections refused, open ones cut), not a flag in the kit.
import net from "node:net"

export async function startProxy(targetPort) {
  const sockets = new Set()
  let server
  let port = 0
  const listen = () =>
    new Promise((resolve, reject) => {
      server = net.createServer((client) => {
        const upstream = net.connect(targetPort, "127.0.0.1")
        sockets.add(client)
        sockets.add(upstream)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on("error", drop).on("close", drop)
        upstream.on("error", drop).on("close", drop)
        client.pipe(upstream)
        upstream.pipe(client)
      })
      server.once("error", reject)
      server.listen(port, "127.0.0.1", () => {
        port = server.address().port
        resolve()
      })
    })
  await listen()
  return {
    get url() {
      return `http://127.0.0.1:${port}`
    },
    async down() {
      await new Promise((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
        sockets.clear()
      })
    },
    async up() {
      await listen()
    },
  }
}

// A preview 1 handler in AssemblyScript: replies with the input reversed.
//
// The input comes from the `line` variable of the shell contract; the
// reply goes to stdout. Empty input exits with code 2.

const line = process.env.has("line") ? process.env.get("line") : "";

if (line.length == 0) {
  process.stdout.write("Nothing to reverse.\n");
  process.exit(2);
} else {
  let reversed = "";
  for (let i = line.length - 1; i >= 0; i--) {
    reversed += line.charAt(i);
  }
  process.stdout.write(reversed + "\n");
}

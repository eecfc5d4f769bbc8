# Build: docker build -t lbctl:latest .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin lbctl

FROM debian:bookworm-slim
COPY --from=build /src/target/release/lbctl /usr/local/bin/lbctl
ENTRYPOINT ["/usr/local/bin/lbctl"]
